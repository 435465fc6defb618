"""The platform service (公共信用评价服务平台): the regulator's console (Chinese pages) and the JSON
API on the serving database. :func:`scoring.service.app.create_app` builds it; ``scoring serve`` runs it.
"""

__all__: list[str] = []  # the app is built by scoring.service.app.create_app (uvicorn imports it by name)
