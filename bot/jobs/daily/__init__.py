"""The daily snapshot job: its state machine (`machine`), pure naming and retention decisions
(`retention`), the run log (`runlog`), recording and reporting a run (`report`), the driver
(`driver`) and the service that schedules it (`service`)."""
