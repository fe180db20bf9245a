"""Several engines played as one show (`vj show SHOWFILE`): show file, supervisor, control fan-out, page."""
