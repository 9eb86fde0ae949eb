"""depth3d.models"""
