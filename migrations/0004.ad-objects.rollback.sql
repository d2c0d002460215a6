drop table ads;
drop table adsets;
drop table campaigns;
