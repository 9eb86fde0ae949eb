"""depth3d.datasets"""
