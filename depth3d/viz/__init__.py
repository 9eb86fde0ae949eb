"""Visualisation: the Open3D viewer (windows and off-screen screenshots) and 3D box drawing."""
