"""depth3d.structured_light"""
