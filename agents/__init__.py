"""faust agents: the stream processors. Each module installs its agents on a worker
(``install(worker)``); ``agents/worker.py`` builds the worker and installs them all."""
