"""The NUT client programs: upsc, upscmd, upsrw, upslog."""
