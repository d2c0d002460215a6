drop table actions;
