"""The soup-rpc Python peer: go-plugin KV host and plugin on pyvider-rpcplugin + grpcio.

Modules are imported lazily by soup_peer.py so that pyvider-rpcplugin is only imported
after the process environment holds the settings the peer chose (pyvider reads its
whole configuration from the environment once, at import time).
"""
