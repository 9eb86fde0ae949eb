"""depth3d.viz"""
