"""depth3d.capture"""
