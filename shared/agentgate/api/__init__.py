"""One FastAPI app per endpoint group; thin routes joining auth, store, runner and protocols."""
