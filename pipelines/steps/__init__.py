"""The steps: one module per pipeline step (extract, validate, train, refit, evaluate, register, drift)
and per operation over the stores (feed, monitor, manual registry operations, publishing reports).

Each step takes the `Resources` built at the edge, the project config, the `RunSpec` and the typed
results of earlier steps; reads its inputs from the lake / MLflow by the URIs and ids those carry;
calls the domain functions; writes its outputs under keys from `pipelines.contracts.layout`; and
returns a typed result again. Only the DAG's task adapters turn results into JSON for XCom.

Belongs here: the I/O around a domain computation. May import: `pipelines.config`, `contracts`,
`domain`, `resources` and this package. Never an edge. Import the step's own module (e.g.
`pipelines.steps.extract`): this package imports nothing, so a task loads only what its step needs.
"""
