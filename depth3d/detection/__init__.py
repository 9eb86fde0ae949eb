"""depth3d.detection"""
