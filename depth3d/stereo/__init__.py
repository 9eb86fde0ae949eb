"""depth3d.stereo"""
