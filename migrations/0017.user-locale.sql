-- The language a user reads the pages in; null = the browser's (Accept-Language).
-- depends: 0016.conversion-action-types

alter table users add column locale text check (locale in ('en', 'pt_BR'));
