"""Model families: what differs between SD 1.x/2.x and SDXL, one file each."""
