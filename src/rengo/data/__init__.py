"""rengo.data"""
