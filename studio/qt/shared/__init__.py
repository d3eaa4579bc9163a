"""What several workspaces use: the workspace base class, form fields, the
image view, dialogs, and the numpy-to-QImage conversion."""
