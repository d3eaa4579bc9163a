"""The docked panels every workspace shares: Models, Queue and Library."""
