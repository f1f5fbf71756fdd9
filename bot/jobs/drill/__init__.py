"""Restore drills: a source manager's newest verified archive restored onto a scratch manager
through the restore runbook, then compared with what the archive holds: its state machine
(`machine`), what is compared (`inventory`), the driver (`driver`) and the service that
schedules drills and answers `/cfy snapshots drill` (`service`)."""
