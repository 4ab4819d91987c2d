set terminal pngcairo size 900,640 noenhanced font ',10'
set output 'learning-curves.png'
set datafile missing '?'
set multiplot layout 1,2 title 'Learning curves: runs/commands-mfcc13'
set xlabel 'epoch'
set grid
set ylabel 'loss'
plot 'learning-curves.tsv' using 1:2 with linespoints title 'train', '' using 1:3 with linespoints title 'dev'
set ylabel 'accuracy'
set yrange [0:1]
plot 'learning-curves.tsv' using 1:4 with linespoints title 'train', '' using 1:5 with linespoints title 'dev'
unset multiplot
