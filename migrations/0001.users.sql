-- Users who sign in to adsvc; emails are unique regardless of case.

create table users (
    id bigint generated always as identity primary key,
    email text not null check (email = btrim(email) and position('@' in email) > 1),
    hashed_password text not null,
    is_active boolean not null default true,
    is_admin boolean not null default false,
    created_at timestamptz not null default now(),
    password_changed_at timestamptz not null default now(),
    disabled_at timestamptz
);

create unique index users_email_lower_key on users (lower(email));
