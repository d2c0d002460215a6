drop table suggestions;
