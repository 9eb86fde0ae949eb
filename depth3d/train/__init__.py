"""depth3d.train"""
