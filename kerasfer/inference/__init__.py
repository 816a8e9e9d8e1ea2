"""kerasfer.inference"""
