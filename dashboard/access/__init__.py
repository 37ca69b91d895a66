"""Who may see what: the access file, the viewer's scope and role, the audit log (docs/access.md)."""
