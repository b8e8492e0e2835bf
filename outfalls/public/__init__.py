"""Public disclosure (信息公开) and public supervision (公众监督): the coding rule and its codes, sign boards with
a QR code, what the public pages show, and citizens' reports (举报) with the officers' queue.
"""
