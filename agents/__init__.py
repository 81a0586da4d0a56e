"""faust agents: the stream processors. Each module installs its agents on a worker
(``install(worker)``); ``agents/build.py`` builds the worker and installs them all."""
