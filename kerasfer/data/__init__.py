"""kerasfer.data"""
