"""`scangate hook ...`: git hooks (being written)."""
