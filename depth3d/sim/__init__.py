"""depth3d.sim"""
