"""rengo.contrib"""
