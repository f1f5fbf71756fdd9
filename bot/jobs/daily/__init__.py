"""The daily snapshot job: its state machine (`machine`), pure naming and retention decisions
(`retention`), recording and reporting a run (`report`; the run log is the Store's), the driver
(`driver`) and the service that schedules it (`service`)."""
