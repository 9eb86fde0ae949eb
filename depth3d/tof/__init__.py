"""depth3d.tof"""
