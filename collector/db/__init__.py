"""The database layer: the connection, the migration registry each part of the collector
registers its tables with, and (in ``collector.store``, ``collector.downtime.store``,
``collector.workflow.store``, ``collector.web.store_users`` and ``collector.fleet.store``)
the stores the rest of the collector uses."""
