"""The ControlNet room: the units, their conditioning pictures and their live scales."""
