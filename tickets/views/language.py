"""Language choice for the console: Bahasa Indonesia unless the user picks English.

Django's `LocaleMiddleware` prefers the browser's Accept-Language header over `LANGUAGE_CODE`,
so an agent whose browser is set to English would start in English. `ConsoleLocaleMiddleware`
ignores that header: the console speaks `LANGUAGE_CODE` (Bahasa Indonesia) until the user
switches with the language selector (Django's language cookie). It stands in `MIDDLEWARE` where
Django's `LocaleMiddleware` would.
"""

from django.middleware.locale import LocaleMiddleware


class ConsoleLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request):
        header = request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        try:
            super().process_request(request)
        finally:
            if header is not None:
                request.META["HTTP_ACCEPT_LANGUAGE"] = header
