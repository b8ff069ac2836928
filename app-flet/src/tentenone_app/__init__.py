"""The trader app (Flet): phone, desktop and web, over ``tentenone.trader``.

Modules: ``server`` (the web page, served locally), ``shell`` (the frame and
navigation), ``views.*`` (one screen each), ``account`` (key store and the
trader engine), ``market_data`` (the gateway's public data), ``preview``
(margin and liquidation price from the DLC library), ``ids`` (the controls'
stable identifiers), ``demo`` (the ``tentenone demo`` component).
"""
