"""The restore runbook: its state machine (`machine`), the pure overdue report (`report`), the
request and follow-up actions (`service`) and the driver that walks the steps (`driver`)."""
