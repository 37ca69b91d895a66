"""The quality review workflow (docs/reviews.md).

What a page calls, each with the viewer's clinic scope:

- ``items.sync_if_stale(store_path(db), db)`` on opening: raise items from a new database;
- ``listing.list_items`` / ``get_item`` / ``counts_by_clinic`` / ``status_by_subject``;
- ``workflow.transition`` / ``assign`` / ``add_note`` with an ``Actor`` and the version read
  (``StaleEdit`` when someone else wrote first).

Open a store with ``store.connect(path)``; it is created and migrated on first use.
"""
