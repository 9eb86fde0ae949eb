"""depth3d.core"""
