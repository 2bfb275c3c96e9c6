"""The domain: pure functions over frames, arrays and a project config -- what the pipeline computes,
not where it reads or writes. Rows and their split, features and estimators, the Optuna search and
the refit, metrics and paired bootstraps, evaluation, the promotion policy, drift statistics, the GX
suite run, the synthetic feeds and the content of reports (markdown, HTML, plots).

Belongs here: anything a step computes that a test can call with a DataFrame and a config.
May import: `pipelines.config`, `pipelines.contracts`, this package and third-party libraries
(pandas, scikit-learn, LightGBM, Optuna, GX, Evidently). Never `pipelines.resources`, `steps` or
an edge: a step hands in what was read and writes what comes back. (The Optuna search runs on the
study storage URL the step passes in; GX reads the suite file whose path the step passes in.)
"""
