"""kerasfer.export"""
