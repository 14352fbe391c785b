"""`{{ text|notice_html }}`: the privacy notice's Markdown as safe HTML (see patrons.privacy_notice)."""

from django import template

from shelfguard.patrons.privacy_notice import as_html

register = template.Library()
register.filter("notice_html", as_html)
