"""depth3d.geometry"""
