"""depth3d.io"""
