"""One screen per page (overview, board, merge queue) and the stacking drawers."""
