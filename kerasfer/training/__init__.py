"""kerasfer.training"""
