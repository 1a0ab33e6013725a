"""The database layer: the connection, the migration registry each part of the collector
registers its tables with, and (in ``collector.store``, ``collector.downtime.store`` and
``collector.workflow.store``) the stores the rest of the collector uses."""
